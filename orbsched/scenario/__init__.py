"""The scenario: schema, sections, YAML loading, errors, constants and number checks.

The base layer: it imports nothing else of orbsched (but the kernels' flag), so every stage
above it can read a validated, frozen :class:`orbsched.scenario.schema.Scenario`.
"""
