"""Statistical fault-injection campaigns: plan, store, execute, summarise.

``plan``       the fault list, drawn once from a seed (uniform over bits, or per stratum)
``store``      the SQLite database: plan up front, results committed chunk by chunk
``runner``     the worker side: one engine, chunks of faults in, records out
``executors``  backends chosen by name: ``local`` (processes), ``ray`` (if installed)
``driver``     start or resume a campaign, run it, record the session
``stats``      Leveugle et al. 2009 sample sizes, Wilson intervals (Kish-weighted for strata)
``summary``    counts, rates, per-stratum / tensor / bit / field breakdowns, mitigations
``report``     the review report: Markdown, HTML, PNG figures, CSV and Parquet exports
``replay``     the ``orbnode inject`` command line that reproduces one record
"""
