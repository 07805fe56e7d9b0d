"""Exports of JLCE runs into other tools' formats (`jlce export`)."""
