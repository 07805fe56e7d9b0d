"""The torch-free `dummy` backend: fixed-rule answers for tests and plugin authors."""
