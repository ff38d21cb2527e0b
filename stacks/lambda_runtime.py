"""The Python version the Lambdas run on, declared once.

Read by the Lambda factory (runtime and managed Powertools layer), by the layer bundler (which refuses wheels
built for another Python) and by the Makefile (`--python-version` of the arm64 wheel download). Standard
library only, and kept to one `NAME = "x.y"` line, because the Makefile reads it with `sed`.
"""

LAMBDA_PYTHON_VERSION = "3.13"
