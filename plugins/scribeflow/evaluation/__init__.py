"""How close a configuration comes to reference texts: the reference set and configurations,
their runs through the pipeline's steps, the metrics, the regression gate and the report.

May import: core, writing, pipeline.
"""
