"""Case study 4, trigger-word detection: what is its own.

`voices` synthesises words with eSpeak NG in a worker process (`espeak_worker`,
GPL-3.0 engine kept out of this process); `generator` lays words over background
noise into labelled 10-second clips and renders them as a pure jitted function;
`dataset` stores clips as a TFDS dataset; `sources` builds word banks from eSpeak,
wav folders or TFDS `speech_commands`, and the clip sources of a run; `events` is
the course's chime rule and event metrics (precision, recall, false accepts per
hour); `detection` predicts on clips, scores them, and finds the trigger word in
audio of any length; `model` is the course's Conv1D + GRU network; `plots` draws
clips and the event precision-recall curve. Spectrograms are shared
(`jaxdl.audio`), as is wav I/O (`jaxdl.data.audio_files`).
"""
