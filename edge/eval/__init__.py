"""Scoring models on labelled data: datasets, FER+ votes, scores, reports and plots."""
