"""The package's version.  It must equal the C library's (tconv_version(),
TCONV_VERSION_* in include/tconv.h, project(VERSION) in CMakeLists.txt):
the package refuses to load a libtconv of another version.  pyproject.toml
reads the version from this file."""
__version__ = "0.1.0"
