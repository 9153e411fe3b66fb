"""Entry point of the ``yardwatch`` command: ``yardwatch <command> [key=value ...]``.

Plain runs compose the command's config with Hydra's compose API and call the command in this process, so that
configuration errors are caught before anything is written and reported as one line with exit status 2. Runs
that ask for Hydra's own machinery (``--cfg``, ``--help``, ``--info``, ``-m`` sweeps) go through ``hydra.main``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from yardwatch.errors import ConfigError, YardwatchError
from yardwatch.models.loader import ensure_offline

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

# command -> (module under yardwatch.cli, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "make synthetic georeferenced rail-yard scenes with exact labels"),
    "tile": ("tile", "cut scenes and geo labels into a YOLO / YOLO-OBB training dataset"),
    "train": ("train", "train a detector (axis-aligned or oriented boxes) on a tiled dataset"),
    "predict": ("predict", "detect objects over whole scenes; georeferenced, merged across tile seams"),
    "evaluate": ("evaluate", "score scene-level detections against labels (COCO mAP, counts)"),
    "count": ("count", "count detections per site and date, flag anomalies, write a report"),
    "export": ("export", "export weights to ONNX / TorchScript / TensorRT with their model card"),
    "doctor": ("doctor", "print versions and devices, and check the demo weights load"),
}

_HYDRA_FLAGS = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "-m", "--multirun",
                "--resolve", "-p", "--package", "--shell-completion", "-sc")


def config_dir() -> Path:
    """The folder holding the Hydra configs: inside the package when installed from a wheel, else the repo's."""
    packaged = Path(__file__).resolve().parents[1] / "configs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "configs"


def _usage() -> str:
    lines = ["usage: yardwatch <command> [key=value ...] [--cfg job] [-m]", "", "commands:"]
    lines += [f"  {name:<9} {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "Keys use Hydra override syntax; `yardwatch <command> --cfg job` prints a command's config."]
    return "\n".join(lines)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def _command_runner(name: str) -> Callable:
    module = importlib.import_module(f"yardwatch.cli.{COMMANDS[name][0]}")
    return module.run


def parse_overrides(command: str, overrides: Sequence[str]) -> list:
    """Parse ``overrides`` with Hydra's grammar, one by one so that an error names the override at fault."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = []
    for override in overrides:
        try:
            parsed += parser.parse_overrides([override])
        except HydraException as err:
            raise ConfigError(f"{command}: cannot parse {override!r} ({_one_line(err)[:200]}); write key=value, "
                              "quoting values with brackets, commas or spaces") from err
    return parsed


def compose_config(command: str, overrides: Sequence[str]):
    """Compose the config of ``command`` with ``overrides``; a Hydra error becomes a :class:`ConfigError`."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    parse_overrides(command, overrides)
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(config_name=command, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        first = " ".join(str(err).split())[:300] or type(err).__name__
        raise ConfigError(
            f"{command}: bad override ({first}); `yardwatch {command} --cfg job` lists the valid keys"
        ) from err


_FLAGS_WITH_VALUE = ("--cfg", "-c", "--package", "-p")


def check_hydra_overrides(command: str, args: Sequence[str]) -> None:
    """Compose ``command``'s config with the ``key=value`` overrides among Hydra's flags, before ``hydra.main``.

    Hydra reports a bad key or group option under ``--cfg`` or ``-m`` as several lines and exit status 1; composing
    first makes it the CLI's one line and exit status 2. A sweep is checked with each of its values when it
    picks a config group option (an unknown option fails by name) and with its first value otherwise (a key fails
    whatever its value; bad numbers are each job's own check).

    Raises:
        ConfigError: an override Hydra cannot apply.
    """
    from hydra.errors import HydraException

    plain, skip = [], False
    for arg in args:
        if skip or arg in _FLAGS_WITH_VALUE:
            skip = not skip
            continue
        if not arg.startswith("-") and "=" in arg:
            plain.append(arg)
    parsed = parse_overrides(command, plain)
    groups = {p.name for p in config_dir().iterdir() if p.is_dir()}
    fixed = [o.input_line for o in parsed if not o.is_sweep_override() and not o.is_hydra_override()]
    sweeps: list[tuple[str, list[str]]] = []
    for override in parsed:
        if override.is_sweep_override() and not override.is_hydra_override():
            try:
                values = list(override.sweep_string_iterator())
            except HydraException:  # e.g. glob(): its options are only known to Hydra's sweeper
                continue
            values = values if override.key_or_group in groups else values[:1]
            sweeps.append((override.get_key_element(), values))
    firsts = [f"{key}={values[0]}" for key, values in sweeps if values]
    compose_config(command, fixed + firsts)
    for i, (key, values) in enumerate(sweeps):
        others = firsts[:i] + firsts[i + 1:]
        for value in values[1:]:
            compose_config(command, [*fixed, *others, f"{key}={value}"])


def _run_with_hydra_main(command: str, overrides: list[str]) -> int:
    import hydra

    runner = _command_runner(command)

    def task(cfg) -> None:
        _guarded(lambda: runner(cfg))

    argv = [f"yardwatch {command}", *overrides, "hydra/job_logging=none", "hydra/hydra_logging=none"]
    saved = sys.argv
    sys.argv = argv
    try:
        hydra.main(config_path=str(config_dir()), config_name=command, version_base="1.3")(task)()
    finally:
        sys.argv = saved
    return EXIT_OK


def _guarded(fn: Callable[[], object]) -> None:
    """Run ``fn``; user-fixable errors exit 2 with one line, anything else exits 1 with the traceback logged."""
    try:
        fn()
    except YardwatchError as err:
        print(f"yardwatch: error: {_one_line(err)}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("yardwatch: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the last line of defence: log it, exit 1
        log.debug("internal error", exc_info=True)
        print(f"yardwatch: internal error: {type(err).__name__}: {_one_line(err)} "
              "(rerun with YARDWATCH_DEBUG=1 for the traceback)", file=sys.stderr)
        if os.environ.get("YARDWATCH_DEBUG"):
            import traceback

            traceback.print_exc()
        sys.exit(EXIT_INTERNAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``yardwatch`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return EXIT_OK
    if args[0] in ("-V", "--version"):
        from yardwatch import __version__

        print(f"yardwatch {__version__}")
        return EXIT_OK
    command, overrides = args[0], args[1:]
    if command not in COMMANDS:
        print(f"yardwatch: error: unknown command {command!r}; choose one of: {', '.join(COMMANDS)}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    ensure_offline()  # ultralytics off the network and pip, whatever the user's shell says
    try:
        if any(a.split("=")[0] in _HYDRA_FLAGS for a in overrides):
            _guarded(lambda: check_hydra_overrides(command, overrides))
            return _run_with_hydra_main(command, overrides)
        cfg = None

        def compose_and_run() -> None:
            nonlocal cfg
            cfg = compose_config(command, overrides)
            _command_runner(command)(cfg)

        _guarded(compose_and_run)
    except SystemExit as exit_:
        return int(exit_.code or 0) if isinstance(exit_.code, int) else EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
