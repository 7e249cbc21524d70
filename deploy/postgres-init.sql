-- One database per service (no table is written by two services).
CREATE DATABASE sorami_gateway;
CREATE DATABASE sorami_notifier;
