"""Thin views: each draws what a view-model says and turns the operator's actions into
requests; the window decides what a request does (the session, the run handle)."""
