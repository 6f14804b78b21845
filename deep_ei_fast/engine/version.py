"""The library's version (setup.py's), here so that every layer can record it (checkpoint
metadata, the matrix command's metadata.json) without importing the package root."""
VERSION = "0.1.0"
