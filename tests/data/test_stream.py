"""Batch streams: epochs, passes, steps_per_epoch, sampling, generators, state."""
import numpy as np
import pytest

import nnkit
from nnkit import data


def collect(stream, steps=None):
    return [b[0].copy() for b in stream.epoch(steps)]


def test_epoch_is_one_pass_with_a_short_last_batch():
    nnkit.set_seed(0)
    s = data.make_stream(data.ArraySource(np.arange(10)), batch_size=4)
    batches = collect(s)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))  # without replacement
    second = np.concatenate(collect(s))
    assert sorted(second) == list(range(10)) and not np.array_equal(second, np.concatenate(batches))


def test_no_shuffle_keeps_order():
    s = data.make_stream(data.ArraySource(np.arange(7)), batch_size=3, shuffle=False)
    assert [b.tolist() for b in collect(s)] == [[0, 1, 2], [3, 4, 5], [6]]


def test_fewer_steps_than_data_continue_where_the_last_epoch_stopped():
    s = data.make_stream(data.ArraySource(np.arange(10)), batch_size=2, shuffle=False)
    assert np.concatenate(collect(s, 2)).tolist() == [0, 1, 2, 3]
    assert np.concatenate(collect(s, 2)).tolist() == [4, 5, 6, 7]
    assert np.concatenate(collect(s, 2)).tolist() == [8, 9, 0, 1]  # then the source repeats


def test_more_steps_than_data_repeat_the_source():
    nnkit.set_seed(1)
    s = data.make_stream(data.ArraySource(np.arange(5)), batch_size=2)
    batches = collect(s, 7)  # 3 batches per pass: 2 + 2 + 1
    assert [len(b) for b in batches] == [2, 2, 1, 2, 2, 1, 2]
    assert sorted(np.concatenate(batches[:3])) == list(range(5))
    assert sorted(np.concatenate(batches[3:6])) == list(range(5))
    assert s.passes == 3


def test_with_replacement():
    nnkit.set_seed(2)
    s = data.make_stream(data.ArraySource(np.arange(1000)), batch_size=1000, sampling="with_replacement")
    (b,) = collect(s)
    assert len(b) == 1000 and len(np.unique(b)) < 900  # about 632 distinct expected
    with pytest.raises(ValueError, match="valid choices: without_replacement, with_replacement"):
        data.make_stream(data.ArraySource(np.arange(3)), 1, sampling="bootstrap")


def test_order_comes_from_the_seeded_generator():
    def run():
        nnkit.set_seed(7)
        s = data.make_stream(data.ArraySource(np.arange(20)), batch_size=6)
        return np.concatenate(collect(s) + collect(s))
    np.testing.assert_array_equal(run(), run())


def test_state_resumes_exactly():
    nnkit.set_seed(3)
    s = data.make_stream(data.ArraySource(np.arange(11)), batch_size=3)
    collect(s, 5)
    state, rng_state = s.get_state(), nnkit.random.get_state()
    expected = collect(s, 6)
    t = data.make_stream(data.ArraySource(np.arange(11)), batch_size=3)
    t.set_state(state)
    nnkit.random.set_state(rng_state)
    assert [b.tolist() for b in collect(t, 6)] == [b.tolist() for b in expected]
    with pytest.raises(ValueError, match="other data"):
        data.make_stream(data.ArraySource(np.arange(5)), 3).set_state(state)


def test_generator_epochs_and_repeat():
    def batches():
        for i in range(3):
            yield np.full(2, i), np.full(2, i)
    s = data.make_stream(data.as_source(batches), batch_size=None)
    assert [b[0][0] for b in s.epoch()] == [0, 1, 2]
    assert [b[0][0] for b in s.epoch()] == [0, 1, 2]  # a callable starts a fresh pass
    assert [b[0][0] for b in s.epoch(4)] == [0, 1, 2, 0]
    assert [b[0][0] for b in s.epoch(2)] == [1, 2]
    lst = data.make_stream(data.as_source([(np.ones(1), np.ones(1))] * 2), None)
    assert len(list(lst.epoch())) == 2 and len(list(lst.epoch())) == 2


def test_one_shot_generator_cannot_repeat():
    gen = ((np.ones(2), np.ones(2)) for _ in range(2))
    s = data.make_stream(data.as_source(gen), None)
    assert len(list(s.epoch())) == 2
    with pytest.raises(RuntimeError, match="exhausted.*callable"):
        list(s.epoch())


def test_empty_generator_and_bad_items():
    with pytest.raises(ValueError, match="yielded no batch"):
        list(data.make_stream(data.as_source(lambda: iter([])), None).epoch())
    with pytest.raises(ValueError, match=r"generated batch\): x has 3 samples .* but y has 2 samples"):
        list(data.make_stream(data.as_source(lambda: iter([(np.ones(3), np.ones(2))])), None).epoch())
    with pytest.raises(ValueError, match="NaN or infinite.*generated batch"):
        list(data.make_stream(data.as_source(lambda: iter([(np.array([np.nan]), np.ones(1))])), None).epoch())


def test_array_source_checks():
    with pytest.raises(ValueError, match=r"x has 3 samples \(shape \(3, 2\)\) but y has 4 samples"):
        data.ArraySource(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="NaN or infinite values in 1 sample.*index 1"):
        data.ArraySource(np.array([[1.0], [np.inf]]), np.ones(2))
    with pytest.raises(ValueError, match="y contains NaN"):
        data.ArraySource(np.ones((2, 1)), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="no samples"):
        data.ArraySource(np.ones((0, 2)))
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        data.ArraySource(np.ones((2, 1)), np.ones(2), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="do not pass y"):
        data.as_source(lambda: iter([]), np.ones(2))


def test_validation_split_takes_the_tail():
    head, tail = data.ArraySource(np.arange(10), np.arange(10)).split(0.3)
    assert head.x.tolist() == list(range(7)) and tail.y.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match=r"validation_split must be in \(0, 1\)"):
        data.ArraySource(np.arange(10)).split(1.5)
