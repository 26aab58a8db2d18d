"""Single-event-upset physics, exact fault injection, mitigations and campaigns.

Modules:

``bits``         exact bit operations on the stored word of any dtype (bfloat16 included)
``faults``       fault models (seu, mbu, mcu, stuck-at-0/1, random) with exact undo
``sampling``     fault sites in proportion to bit count, or inside a stratum
``activations``  exact activation faults (ScatterND patch) and graph tails that reuse
                 clean activations
``outcome``      the one classifier: masked / tolerable / sdc / due, and the Verdict
``trials``       flip / infer / judge / restore at close to inference speed (the fast path)
``inject``       one fault, one record: what ``orbnode inject`` prints and a campaign stores
``upsets``       the in-node rate-driven upset process and the CRC scrubber
``mitigations``  scrub, SECDED ECC, activation range restriction, DMR/TMR voting, and
                 ``protect``: one fault under one mitigation, with measured costs
``campaign``     statistical campaigns: plan, store, execute, summarise, report
``testmodels``   small real models (Constant weights, int8, bfloat16, old opsets, ...)

The live weight memory itself is :class:`node.engine.Engine`.
"""
