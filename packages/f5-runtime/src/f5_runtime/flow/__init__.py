"""The job flow: what happens to a request, stage by stage, chunk by chunk.

    clock.py     the stage clock: names the stages, times them (they add up to the total)
    chunks.py    the chunk generator every caller uses: plan -> generate -> vocode -> align
    assemble.py  chunks joined with cross-fades; words placed on the output (the one rule)
    job.py       the endpoint's job: validate, fetch, reference, chunks, encode, subtitles,
                 publish
"""
