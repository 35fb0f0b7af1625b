"""AWS calls behind small classes: each takes its boto3 client in the constructor,
so tests pass a moto-backed client and no module creates one at import time."""
