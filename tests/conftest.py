import os
os.environ.setdefault('MPLBACKEND', 'Agg')

def pytest_configure(config):
    config.addinivalue_line('markers', 'gpu: checks a CUDA path; skipped without CUDA unless BISSL_TEST_DEVICE is set (tests/test_gpu.py)')
