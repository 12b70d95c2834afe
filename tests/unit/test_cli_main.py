from click.testing import CliRunner

from alumio_mistral import __version__
from alumio_mistral.cli import main


def test_version_prints_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_public_surface_resolves_every_name() -> None:
    import alumio_mistral

    for name in alumio_mistral.__all__:
        assert getattr(alumio_mistral, name) is not None, name


def test_unknown_public_name_is_an_attribute_error() -> None:
    import pytest

    import alumio_mistral

    with pytest.raises(AttributeError):
        alumio_mistral.no_such_thing  # noqa: B018


def test_every_registered_command_has_help() -> None:
    from alumio_mistral.cli import COMMANDS

    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output
