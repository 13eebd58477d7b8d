"""OOS (Operation Orchestration Service, ``2019-06-01``): templates and executions."""
