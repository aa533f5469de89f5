-- PostgreSQL dialect of ../0012_member_segments.sql (same meaning; see docs/deployment.md).
-- Version 12: a member's segments, for campaigns only some members get: the
-- names sorted, each once, joined by commas; '' is none (rules/segments.h).
-- A constant default: existing rows are not rewritten.
ALTER TABLE members ADD COLUMN segments TEXT NOT NULL DEFAULT '';
