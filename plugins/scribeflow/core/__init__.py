"""The ground floor: what every other room stands on.

Errors with one-line causes (``errors``), the typed records that cross rooms (``records``),
settings (``config``, read into their types by ``typed``), language codes and names
(``languages``), the artifact layout and atomic writes (``files``), the data folder on
object storage (``objects``), connections from the environment (``connections``), the LLM
answer cache (``cache``), what every OpenAI-compatible request shares (``endpoints``), times
and links (``links``), timings, progress and request batching.

May import: nothing of Scribeflow's but itself.
"""
