//! Realistic demo data (teams, users, leads, surveys, installations) for the server's seed, tests and benchmarks.
