"""`publisher run`: the scheduler and its jobs (schedule), noticing changes in the
posts folder (watch), and where the jobs run (workers).
"""
