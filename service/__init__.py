"""The wiring above the stages: ``Runtime`` builds the models, indexes and stores from one
``Settings`` and owns the process's ``ExecutionPolicy``; ``SearchService`` runs a search
(image -> regions -> vectors -> neighbours -> catalog rows); ``result_cache`` remembers answers.
The API, ``lookalike eval`` and the benchmarks all stand on this package."""
