"""Child process for the crash tests: saves forever, alternating two payloads, reporting each finished save.

Usage: python crash_child.py PATH MEGABYTES
"""

import sys

import numpy as np

from tapeflow.saving import archive, safetensors_io


def payload(i, megabytes):
    n = megabytes * 2**20 // 4
    return {"metadata.json": archive.dumps_json(archive.new_metadata("weights", step=i)),
            "model.weights.safetensors": lambda f: safetensors_io.write(f, {"w": np.full(n, i, "float32")})}


def main():
    path, megabytes = sys.argv[1], int(sys.argv[2])
    i = 0
    while True:
        archive.write_archive(path, payload(i, megabytes))
        print(i, flush=True)
        i += 1


if __name__ == "__main__":
    main()
