"""Validates the OpenAPI document on standard input with openapi-spec-validator; prints each
path and method it describes (the test compares them with the routes)."""

import json
import sys

from openapi_spec_validator import validate

document = json.load(sys.stdin)
validate(document)
for path, item in sorted(document["paths"].items()):
    for method in sorted(item):
        print(f"{method.upper()} {path}")
