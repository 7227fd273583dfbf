#!/usr/bin/env bash
# Break one behaviour at a time (the supervisor's rules, and the defects fixed beside it) and
# show that the test written for it fails. Restores each file after; run on a clean tree.
# Usage: tools/mutations.sh   (about 10 minutes on 2 cores: each mutation rebuilds a test)
set -u
cd "$(dirname "$0")/.."
run() { # name file python-replace-old python-replace-new test
  local name="$1" file="$2" old="$3" new="$4" test="$5"
  cp "$file" /tmp/mut.bak
  python3 - "$file" "$old" "$new" <<'PY'
import sys
p,a,b=sys.argv[1:4]; s=open(p).read()
assert a in s, ("not found", a)
open(p,'w').write(s.replace(a,b,1))
PY
  local target="${6:---lib}"
  if timeout 600 cargo test --locked $target -q "$test" > /tmp/mut.log 2>&1; then
    echo "MUTATION SURVIVED: $name ($test passed)"
  else
    echo "ok: $name -> $test fails ($(grep -m1 -oE 'panicked at [^ ]+|timed out|test result: [A-Z]+' /tmp/mut.log || tail -1 /tmp/mut.log))"
  fi
  cp /tmp/mut.bak "$file"
}
run "longest first" src/exec/pending.rs "std::cmp::Reverse(runs[i].train_flops)" "runs[i].train_flops" runs_start_longest_first
run "memory admission" src/exec/supervisor/mod.rs "let Some(budget) = self.sup.opts.memory_budget else {" "let Some(budget) = None::<u64> else {" memory_admission_holds
run "ctrl-c once asks to stop" src/exec/supervisor/mod.rs "                a.handle.stop();" "" ctrl_c_once
run "ctrl-c once starts no more" src/exec/supervisor/mod.rs "            if !self.stopping {
                self.start_free_slots()?;" "            {
                self.start_free_slots()?;" ctrl_c_once
run "ctrl-c before the pass" src/exec/supervisor/mod.rs "            // Before any start: a Ctrl-C pressed while the sweep was being prepared starts
            // nothing.
            if self.on_interrupts(outcomes)? {
                return Err(Error::Interrupted);
            }" "" ctrl_c_pressed_before
run "ctrl-c twice kills" src/exec/supervisor/mod.rs "                a.handle.kill();" "" ctrl_c_twice
run "crash summary" src/exec/supervisor/mod.rs "            store::write_summary(dir, &sum)?;
            Outcome::Finished(RunState::Failed)" "            let _ = sum;
            Outcome::Finished(RunState::Failed)" a_crash_is_recorded
run "pause at until" src/exec/pending.rs "        return Ok(Left::Paused(done));" "        let _ = done;" runs_pause_at_until
run "busy run" src/exec/supervisor/mod.rs "        Some(EXIT_BUSY) => Outcome::Busy(\"another process is training it\".into())," "" a_run_or_a_sweep_held
run "sweep lock" src/exec/supervisor/mod.rs "        let _lock = if opts.locked {" "        let _lock = if true {" a_run_or_a_sweep_held
run "halving: a failed run blocks its rung" src/exec/halving.rs "                RunState::Failed if done < epoch => {
                    blocked.get_or_insert(i);
                }" "                RunState::Failed if done < epoch => {
                    blocked.get_or_insert(i);
                    return Ok((Vec::new(), loaded, blocked));
                }" a_run_failed_before_its_rung
run "huge samples" src/spec/manifest.rs "if *n.get_ref() > MAX_RANDOM_SAMPLES" "if *n.get_ref() > usize::MAX - 1" bad_manifests "--test cli"
run "weights file checks" src/cli/models.rs "    check_model(&src.file, &src.header, dataset)?;" "" weights_files_that_do_not_match "--test models"
run "stale temp files" src/exec/runner.rs "    store::remove_stale_temps(&dir);" "" a_temporary_file_left "--test faults"
run "no empty directory after a failed download" src/data/fetch.rs "    if fetched.is_err() {" "    if false {" mirror "--test fetch"
run "too-big error names the manifest" src/cli/mod.rs "                m.model_location(model)," "                model," a_model_that_cannot_fit "--test cli"
git status --short src
