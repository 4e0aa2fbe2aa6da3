"""The test suite: one set of expectations for every implementation."""
