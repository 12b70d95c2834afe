from click.testing import CliRunner

from alumio_mistral import __version__
from alumio_mistral.cli import main


def test_version_prints_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
