"""``tapeflow launch -n 4 train.py [args...]``: start a script on N processes with the MPI launcher.

A thin wrapper over ``mpiexec``: it finds the launcher (``--mpiexec``, then ``$TAPEFLOW_MPIEXEC``, then
the one beside this Python, which the ``mpich`` wheel of the ``mpi`` extra installs, then ``mpiexec`` or
``mpirun`` on ``PATH``) and runs ``mpiexec -n N [-f HOSTFILE] python -m mpi4py train.py args...``.
``-m mpi4py`` makes an exception raised in any rank, even before tapeflow is imported, abort the whole job
instead of leaving the other ranks waiting. The exit status is ``mpiexec``'s.

On one machine (no hostfile) it also sets ``OMP_NUM_THREADS`` to the cores per process when it is not set
already, as ``torchrun`` does: N processes each running NumPy's BLAS on every core would fight over the cores.

Example:
    >>> from tapeflow.distributed.launch import build_command
    >>> build_command("train.py", ["--epochs", "3"], n=4, mpiexec="mpiexec", python="python")
    ['mpiexec', '-n', '4', 'python', '-m', 'mpi4py', 'train.py', '--epochs', '3']
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from tapeflow._extras import install_hint


def find_mpiexec(explicit=None) -> str:
    """The path of the MPI launcher to use.

    Args:
        explicit: a path or command name given by the user (wins when given).

    Returns:
        The launcher's path.

    Raises:
        FileNotFoundError: no launcher was found; the message says how to install one.
    """
    beside_python = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    candidates = [explicit, os.environ.get("TAPEFLOW_MPIEXEC"), beside_python, "mpiexec", "mpirun"]
    for candidate in candidates:
        if not candidate:
            continue
        found = shutil.which(candidate)
        if found:
            return found
        if candidate in (explicit, os.environ.get("TAPEFLOW_MPIEXEC")):
            raise FileNotFoundError(f"tapeflow launch: the MPI launcher {candidate!r} was not found")
    raise FileNotFoundError(
        "tapeflow launch: no MPI launcher found (looked beside this Python and for mpiexec/mpirun on PATH). "
        f"Install one with: {install_hint('mpi')}"
    )


def _is_hydra(mpiexec) -> bool:
    """Whether ``mpiexec`` is MPICH's Hydra (hostfile flag ``-f``) rather than Open MPI's (``--hostfile``)."""
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return "HYDRA" in (out.stdout + out.stderr).upper()


def build_command(script, args=(), n=1, mpiexec="mpiexec", python=None, hostfile=None, module=False,
                  mpi_args=(), hydra=None):
    """The ``mpiexec`` command line that runs ``script`` (or module ``script`` with ``module=True``).

    Args:
        script: the Python file (or module name) to run.
        args: its arguments.
        n: the number of processes.
        mpiexec: the launcher.
        python: the interpreter every rank runs (default: this one).
        hostfile: a file of host names (one per line, ``host:slots`` allowed) for a multi-machine job.
        module: run ``python -m script`` instead of a file.
        mpi_args: extra launcher arguments, passed through before the program.
        hydra: whether the launcher is MPICH's Hydra (decides the hostfile flag; asked when ``None``).

    Returns:
        The command as a list of strings.

    Raises:
        ValueError: ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"`n` (the number of processes) must be a positive integer. Received: n={n!r}")
    cmd = [mpiexec, "-n", str(n)]
    if hostfile:
        if hydra is None:
            hydra = _is_hydra(mpiexec)
        cmd += ["-f" if hydra else "--hostfile", str(hostfile)]
    cmd += list(mpi_args)
    cmd += [python or sys.executable, "-m", "mpi4py"]
    cmd += ["-m", script] if module else [script]
    return cmd + list(args)


def threads_per_process(n, cores=None) -> int:
    """The BLAS threads each of ``n`` processes on one machine gets: its share of the cores, at least 1.

    Example:
        >>> threads_per_process(4, cores=16), threads_per_process(4, cores=2)
        (4, 1)
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // n)


def _parser():
    p = argparse.ArgumentParser(
        prog="tapeflow launch",
        description="Run a training script on N processes with MPI (data-parallel training).",
        epilog="Everything after the script is passed to it, e.g. tapeflow launch -n 4 train.py --epochs 3",
    )
    p.add_argument("-n", "--np", dest="n", type=int, default=2, help="number of processes (default 2)")
    p.add_argument("--hostfile", help="file of host names for a job over several machines")
    p.add_argument("--mpiexec", help="the MPI launcher to use (default: found automatically)")
    p.add_argument("--mpi-arg", dest="mpi_args", action="append", default=[], metavar="ARG",
                   help="an extra argument for mpiexec (repeatable), e.g. --mpi-arg=-bind-to --mpi-arg=core")
    p.add_argument("-m", dest="module", action="store_true", help="run SCRIPT as a module (python -m SCRIPT)")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    p.add_argument("script", help="the Python file (or module, with -m) to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    return p


def main(argv=None) -> int:
    """Entry point of ``tapeflow launch``; returns the launcher's exit status."""
    opts = _parser().parse_args(argv)
    if opts.n < 1:
        _parser().error(f"-n must be a positive integer. Received: -n {opts.n}")
    if not opts.module and not os.path.isfile(opts.script):
        _parser().error(f"no such script: {opts.script!r}")
    try:
        mpiexec = find_mpiexec(opts.mpiexec)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 2
    cmd = build_command(opts.script, opts.args, n=opts.n, mpiexec=mpiexec, hostfile=opts.hostfile,
                        module=opts.module, mpi_args=opts.mpi_args)
    env = dict(os.environ)
    if not opts.hostfile and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(threads_per_process(opts.n))
    if opts.dry_run:
        prefix = "" if env.get("OMP_NUM_THREADS") == os.environ.get("OMP_NUM_THREADS") else (
            f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']} "
        )
        print(prefix + " ".join(cmd))
        return 0
    proc = subprocess.Popen(cmd, env=env)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # Ctrl-C reached mpiexec too (same process group); wait for it to stop
            continue


if __name__ == "__main__":  # pragma: no cover - `python -m tapeflow.distributed.launch`
    sys.exit(main())
