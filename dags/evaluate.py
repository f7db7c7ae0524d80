"""
### evaluate

Did a change make things better? Runs the pipeline's own steps (download → transcribe →
document stages → quality score) for each **configuration** in the configurations file over
every **reference item** (media with a reference transcript, optionally a reference
document), and records WER and CER, the quality score, the share of the reference's content
words the document keeps, seconds per minute of audio, LLM tokens and cost.

Results go to `$SCRIBEFLOW_DATA/evaluation/results.parquet` (one row per run,
configuration and item) and an HTML report with charts (`evaluation/report.html`), each
configuration against its previous evaluation. The run **fails** when a configuration is
worse than that baseline by more than the margins: a regression gate. Transcripts and LLM
answers are reused, so evaluating an unchanged configuration again costs nothing.
`scribeflow evaluate` runs this DAG from the command line.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from scribeflow.core.config import DeploymentSettings
from scribeflow_airflow import evaluate as tasks
from scribeflow_airflow.steps import step

TRANSCRIBE_QUEUE = DeploymentSettings.from_env().transcribe_queue


@dag(
    dag_id="evaluate",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["scribeflow", "evaluation"],
    doc_md=__doc__,
    default_args={"owner": "scribeflow", "retries": 1},
    params={
        "references": Param(None, type=["null", "string"], title="Reference set",
                            description="A YAML file of reference items (default: the shipped "
                                        "include/evaluation/references.yaml)."),
        "configs": Param(None, type=["null", "string"], title="Configurations",
                         description="A YAML file of configurations (default: "
                                     "include/evaluation/configs.yaml)."),
        "only": Param([], type="array", items={"type": "string"}, title="Only these",
                      description="Names of the configurations to evaluate (default: all)."),
        "max_wer_increase": Param(0.02, type="number", minimum=0, title="WER margin",
                                  description="Fail when WER rises by more than this."),
        "max_quality_drop": Param(5.0, type="number", minimum=0, title="Quality margin",
                                  description="Fail when the 0-100 quality score drops by more."),
        "max_content_drop": Param(0.05, type="number", minimum=0, title="Content margin",
                                  description="Fail when the share of content words kept "
                                              "drops by more than this."),
    },
)
def evaluate():
    candidates = step(tasks.plan)()
    # one instance per configuration, labelled by its name in the grid
    results = step(tasks.evaluate_config, queue=TRANSCRIBE_QUEUE,
                   map_index_template="{{ task.op_kwargs['candidate']['name'] }}"
                   ).expand(candidate=candidates)
    step(tasks.report)(results)


evaluate()
