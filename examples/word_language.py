"""English or Spanish? A character-level text classifier on variable-length words.

Each word (3-16 letters, accents folded away; bundled: ``nnkit.datasets.english_spanish_words()``) becomes its
letter ids padded with 0 after the word.  ``Embedding(mask_zero=True)`` marks the padding, and the mask travels
to the ``Bidirectional(LSTM)``, which skips padded steps in both directions, so a word's prediction does not
depend on how much padding follows it (the script checks this).  Baseline: logistic regression on letter
bigram counts (the same words, no order beyond pairs).

    python examples/word_language.py [--epochs 8] [--units 32] [--batch-size 64]
"""
import argparse
import time

import numpy as np

import nnkit
from nnkit import layers
from nnkit.datasets import encode_words


def build(units, embed=16):
    return nnkit.Sequential([
        layers.Input((None,), dtype="int32"),
        layers.Embedding(27, embed, mask_zero=True),
        layers.Bidirectional(layers.LSTM(units)),
        layers.Dense(1, activation="sigmoid")])


def bigram_baseline(train_words, y_train, test_words, y_test, epochs=30):
    """Logistic regression on letter-bigram counts (with word-boundary marks), trained with nnkit too."""
    alphabet = "^abcdefghijklmnopqrstuvwxyz$"
    index = {a + b: i for i, (a, b) in enumerate((a, b) for a in alphabet for b in alphabet)}

    def counts(words):
        out = np.zeros((len(words), len(index)), np.float32)
        for i, w in enumerate(words):
            w = "^" + w + "$"
            for a, b in zip(w, w[1:]):
                out[i, index[a + b]] += 1
        return out

    model = nnkit.Sequential([layers.Input((len(index),)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(counts(train_words), y_train, epochs=epochs, batch_size=64, verbose=0)
    return model.evaluate(counts(test_words), y_test, verbose=0)[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="use only this many training words (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    nnkit.utils.set_random_seed(args.seed)
    (train_words, y_train), (test_words, y_test) = nnkit.datasets.english_spanish_words()
    train_words, y_train = train_words[:args.limit], y_train[:args.limit]
    x_train, x_test = encode_words(train_words), encode_words(test_words)

    model = build(args.units)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1, verbose=2)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]

    # The mask at work: four more padding steps change no prediction.
    longer = np.pad(x_test[:256], ((0, 0), (0, 4)))
    padding_shift = float(np.max(np.abs(model.predict(longer, verbose=0) - model.predict(x_test[:256], verbose=0))))
    baseline = bigram_baseline(train_words, y_train, test_words, y_test)
    print(f"\nBidirectional LSTM: test accuracy {accuracy:.3f} ({len(test_words)} words), trained in {seconds:.1f} s "
          f"({nnkit.threads.get_num_threads()} threads)")
    print(f"letter-bigram logistic regression: test accuracy {baseline:.3f}")
    print(f"largest change of a prediction when 4 padding steps are added: {padding_shift:.2e}")
    for word in ["computer", "biblioteca", "sunshine", "mariposa"]:
        p = float(model.predict(encode_words([word]), verbose=0)[0, 0])
        print(f"  {word:12s} -> {'spanish' if p > 0.5 else 'english'} (p_spanish = {p:.2f})")
    return {"accuracy": accuracy, "baseline": baseline, "padding_shift": padding_shift}


if __name__ == "__main__":
    main()
