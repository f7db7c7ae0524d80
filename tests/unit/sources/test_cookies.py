import stat

import pytest

from scribeflow.core.errors import ConfigError
from scribeflow.sources.cookies import cookie_file

COOKIES = ("# Netscape HTTP Cookie File\n"
           ".example.org\tTRUE\t/\tFALSE\t2145916800\tsession\tSECRET-VALUE-123\n")


def test_cookies_live_in_a_private_file_that_is_removed():
    with cookie_file(COOKIES) as path:
        assert path.read_text() == COOKIES
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.exists() and not path.parent.exists()


def test_no_cookies_no_file():
    with cookie_file(None) as path:
        assert path is None


def test_a_malformed_file_is_refused_without_showing_it():
    with pytest.raises(ConfigError) as info, cookie_file("session=SECRET-VALUE-123", "conn 'yt'"):
        pass
    assert "conn 'yt' does not hold a Netscape cookies file" in str(info.value)
    assert "SECRET" not in str(info.value)
