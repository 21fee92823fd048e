"""Deployment tests: the image, the compose files and the Kubernetes manifests."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "container: builds and runs the image with podman (CI runs them; -m 'not container' skips them)"
    )
    config.addinivalue_line("markers", "slow: starts real servers or processes (CI runs them)")
