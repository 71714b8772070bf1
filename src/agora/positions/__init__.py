"""Positions: the average-cost model and the projector that keeps them from fills."""
