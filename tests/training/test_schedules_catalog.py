"""CosineDecayRestarts, PolynomialDecay, InverseTimeDecay: Keras 3's formulas at hand-computed steps,
config round trips (alone and inside an optimizer), bad arguments."""
import math

import pytest

from nnkit import optimizers, schedules


def test_cosine_decay_restarts_by_hand():
    s = schedules.CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5, alpha=0.1)
    assert s(0) == pytest.approx(1.0)
    assert s(5) == pytest.approx(0.9 * 0.5 * (1 + math.cos(math.pi / 2)) + 0.1)  # half-way down period 0
    assert s(10) == pytest.approx(0.9 * 0.5 + 0.1)  # period 1 (20 steps) restarts at half the peak
    assert s(20) == pytest.approx(0.9 * 0.25 + 0.1)  # half-way through period 1
    assert s(30) == pytest.approx(0.9 * 0.25 + 0.1)  # period 2 (40 steps) restarts at a quarter
    same = schedules.CosineDecayRestarts(2.0, 10, t_mul=1.0)
    assert same(15) == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert same(20) == pytest.approx(2.0)
    assert schedules.CosineDecayRestarts(1.0, 10).get_config()["name"] == "SGDRDecay"  # Keras's default name


def test_polynomial_decay_by_hand():
    s = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0)
    assert s(0) == pytest.approx(0.1)
    assert s(5) == pytest.approx(0.09 * 0.25 + 0.01)
    assert s(20) == pytest.approx(0.01)  # held at the end
    c = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0, cycle=True)
    assert c(0) == pytest.approx(0.1)
    assert c(15) == pytest.approx(0.09 * (1 - 15 / 20) ** 2 + 0.01)  # the horizon grew to 20
    assert schedules.PolynomialDecay(1.0, 4)(2) == pytest.approx((1 - 0.0001) * 0.5 + 0.0001)  # Keras defaults


def test_inverse_time_decay_by_hand():
    s = schedules.InverseTimeDecay(0.1, 10, 0.5)
    assert s(5) == pytest.approx(0.1 / 1.25)
    assert schedules.InverseTimeDecay(0.1, 10, 0.5, staircase=True)(15) == pytest.approx(0.1 / 1.5)


@pytest.mark.parametrize("schedule", [
    schedules.CosineDecayRestarts(0.1, 7, t_mul=1.5, m_mul=0.9, alpha=0.01),
    schedules.PolynomialDecay(0.1, 7, 0.001, power=0.5, cycle=True),
    schedules.InverseTimeDecay(0.1, 7, 0.3, staircase=True),
])
def test_config_round_trips(schedule):
    again = schedules.deserialize(schedules.serialize(schedule))
    assert again.get_config() == schedule.get_config()
    assert [again(t) for t in range(30)] == [schedule(t) for t in range(30)]
    opt = optimizers.Adam(schedule)
    restored = optimizers.Adam.from_config(opt.get_config())
    assert restored.schedule.get_config() == schedule.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="CosineDecayRestarts: first_decay_steps must be positive, got 0"):
        schedules.CosineDecayRestarts(0.1, 0)
    with pytest.raises(ValueError, match="PolynomialDecay: decay_steps must be positive, got -1"):
        schedules.PolynomialDecay(0.1, -1)
    with pytest.raises(ValueError, match="InverseTimeDecay: decay_steps must be positive"):
        schedules.InverseTimeDecay(0.1, 0, 0.5)
