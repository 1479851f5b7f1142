"""The run as named stages with typed hand-offs (issue 14 item 4), one module each::

    config     RunConfig, RunResult
    resolve    RunConfig -> Setup (specs, protocol, device, output folders); open_run -> RunFolder
    task_data  prepare_data -> PreparedData (read, validate and decode once; shared by a sweep)
    fit        fit_model -> Trained
    evaluate   predict_splits -> Predictions; score_predictions -> scores
    record     write_run -> RunResult (run folder, append-only run record)
    run        run_experiment: the stages in order
    sweep      plan_sweep, run_sweep: the grid, shared task data, failed-run policy

Import the submodules (this package imports nothing heavy).
"""
