"""Child process for the crash test: saves a model forever, its weights all equal to the save's number.

Usage: python crash_child.py PATH

Prints each number once its save has returned. A 1024x1024 Dense layer makes each save 4 MiB, so a kill
often lands inside one.
"""

import sys

import numpy as np

import tapeflow as tp


def main():
    path = sys.argv[1]
    model = tp.Sequential([tp.Input(shape=(1024,)), tp.layers.Dense(1024)])
    i = 0
    while True:
        model.set_weights([np.full(w.shape, i, w.dtype) for w in model.get_weights()])
        model.save(path)
        print(i, flush=True)
        i += 1


if __name__ == "__main__":
    main()
