#!/usr/bin/env bash
# The main job on the bundled rules, from a fresh clone: set up, check every
# rule, run the rules' own tests, compile every rule for every target into
# out/, and run the first rule on its sample data.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check -e '.[sigma]'

rulecast check rules/
rulecast test rules/
rulecast compile rules/ --target all -o out/
# Every deployable format, one folder each (hunting and analytic are both YAML).
for packaging in sentinel:hunting sentinel:analytic sentinel:arm defender:hunting defender:custom-detection \
        splunk:savedsearch splunk:contentctl splunk:macros; do
    rulecast compile rules/ --target "${packaging%%:*}" --format "${packaging#*:}" -o "out/${packaging#*:}"
done
samples=rules/email/samples/high_confidence_phish_released
rulecast run rules/email/high_confidence_phish_released.yaml \
    --table CloudAppEvents="$samples/CloudAppEvents.jsonl" \
    --table EmailEvents="$samples/EmailEvents.jsonl" \
    --format table
