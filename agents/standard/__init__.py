"""The standard itself: applicability facts, requirements from the catalogue, the quality gate.

`facts` derives the facts by rules, `refine` lets a capable model fill gaps,
`followup` applies a follow-up's corrections and requests, `requirements`
turns facts into numbered catalogue requirements, `gate` checks model prose,
`citations` checks what prose cites. `agents.report` renders the standard.
"""
