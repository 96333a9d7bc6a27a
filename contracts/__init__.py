"""One contract module per workflow (its type name, id, inputs, results and message names), as callers
and activities know it: they import the contract, never the workflow. Only the domain below."""
