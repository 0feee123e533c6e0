"""The master process: binds, forks, reaps and supervises; knows no MPM by name."""
