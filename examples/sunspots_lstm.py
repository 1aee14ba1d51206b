"""Forecasting the yearly sunspot numbers with a stateful LSTM trained in batches of several streams.

The series (1700-2008, bundled: ``nnkit.datasets.sunspots()``) is cut at 1948: the years before train, the 60
after are the test.  The training years are split into ``--streams`` contiguous stretches that run side by side
as the rows of each batch; every batch holds the next ``--steps`` years of each stretch, and the LSTM's state
(``stateful=True``) carries from one batch to the next, so the network sees each stretch as one long sequence
while training in batches larger than one.  ``reset_states()`` starts every epoch afresh.

For the test, a batch-1 copy of the network (same weights) reads the history up to each test year and
forecasts the next one (one step ahead).  Baselines: persistence (next year = this year) and the classical
AR(9) model fitted by least squares on the same training years.

    python examples/sunspots_lstm.py [--epochs 150] [--units 32] [--streams 4] [--steps 12]
"""
import argparse
import time

import numpy as np

import nnkit
from nnkit import layers

SPLIT_YEAR = 1949  # first test year


def scaled_series():
    years, counts = nnkit.datasets.sunspots()
    train = years < SPLIT_YEAR
    scale = counts[train].std()
    return years, counts, counts / scale, scale, int(train.sum())


def stream_batches(series, streams, steps):
    """Inputs and next-year targets shaped (chunks * streams, steps, 1), ordered so that row j of batch i+1
    continues row j of batch i: the layout a stateful layer needs."""
    length = (len(series) - 1) // (streams * steps) * steps  # years per stream, whole chunks only
    x = np.stack([series[s * length:(s + 1) * length] for s in range(streams)])          # (streams, length)
    y = np.stack([series[s * length + 1:(s + 1) * length + 1] for s in range(streams)])
    chunks = length // steps
    as_batches = lambda a: a.reshape(streams, chunks, steps).transpose(1, 0, 2).reshape(-1, steps, 1)
    return as_batches(x).astype(np.float32), as_batches(y).astype(np.float32)


def build(units, batch_size, steps):
    return nnkit.Sequential([
        layers.Input(batch_shape=(batch_size, steps, 1)),
        layers.LSTM(units, stateful=True, return_sequences=True),
        layers.Dense(1)])


def train(series, n_train, args):
    x, y = stream_batches(series[:n_train], args.streams, args.steps)
    model = build(args.units, args.streams, args.steps)
    model.compile(optimizer=nnkit.optimizers.Adam(args.lr), loss="mse")
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.reset_states()
        history = model.fit(x, y, batch_size=args.streams, epochs=1, shuffle=False, verbose=0)
        if (epoch + 1) % max(1, args.epochs // 5) == 0:
            print(f"epoch {epoch + 1:4d}  training mse {history.history['loss'][-1]:.4f} (scaled units)")
    return model, time.perf_counter() - start


def forecast(model, series, n_train, units):
    """One-step-ahead forecasts of every test year, from a batch-1 copy (same weights) that reads the whole
    series in one call: its output at year t is the forecast for year t + 1."""
    reader = build(units, 1, None)
    reader.set_weights(model.get_weights())
    reader.reset_states()
    predictions = reader.predict(series[None, :-1, None].astype(np.float32), verbose=0)
    return predictions.reshape(-1)[n_train - 1:]


def ar_forecast(series, n_train, order=9):
    """AR(order) by least squares on the training years; one-step-ahead forecasts of the test years."""
    lagged = lambda end: np.stack([series[t - order:t][::-1] for t in range(order, end)])
    design = np.column_stack([np.ones(n_train - order), lagged(n_train)])
    coef, *_ = np.linalg.lstsq(design, series[order:n_train], rcond=None)
    test_design = np.column_stack([np.ones(len(series) - n_train), lagged(len(series))[n_train - order:]])
    return test_design @ coef


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--streams", type=int, default=4, help="rows per batch (stretches of the series)")
    parser.add_argument("--steps", type=int, default=12, help="years per batch row")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    nnkit.utils.set_random_seed(args.seed)
    years, counts, series, scale, n_train = scaled_series()
    model, seconds = train(series, n_train, args)
    truth = counts[n_train:]
    rmse = lambda pred: float(np.sqrt(np.mean((pred - truth) ** 2)))
    results = {"LSTM (stateful, nnkit)": rmse(forecast(model, series, n_train, args.units) * scale),
               "AR(9), least squares": rmse(ar_forecast(series, n_train) * scale),
               "persistence": rmse(counts[n_train - 1:-1])}
    print(f"\ntrained {args.epochs} epochs in {seconds:.1f} s ({nnkit.threads.get_num_threads()} threads); "
          f"test years {years[n_train]}-{years[-1]}, one step ahead")
    for name, value in results.items():
        print(f"  {name:24s} RMSE {value:6.1f} sunspots")
    return results


if __name__ == "__main__":
    main()
