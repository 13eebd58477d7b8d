"""Benchmarks for alicloud.ecs: `make bench` prints the tables the README quotes."""
