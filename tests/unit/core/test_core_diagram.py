"""The committed architecture diagram is the one the templates generate."""

from __future__ import annotations

import re
from pathlib import Path

from cfn_eval import REPO_ROOT, STACKS_DIR, child_templates, load_template

from safejob_tools.diagram import MARKDOWN_FILE, MERMAID_FILE, main, render_mermaid


def test_committed_diagram_equals_the_generated_one() -> None:
    # GIVEN the templates as they are
    generated = render_mermaid(STACKS_DIR)
    # THEN docs/architecture.mmd and the block in docs/architecture.md hold exactly that
    assert (REPO_ROOT / MERMAID_FILE).read_text() == generated
    assert f"```mermaid\n{generated}```" in (REPO_ROOT / MARKDOWN_FILE).read_text()
    assert main(["--check"]) == 0


def test_diagram_shows_every_stack_and_dependency(root_wiring: dict[str, object]) -> None:
    # GIVEN the diagram and the wiring
    generated = render_mermaid(STACKS_DIR)
    # THEN every child stack is a box and every stateful resource appears (by name or in a count)
    for name in child_templates():
        assert f'["{name}.yaml' in generated
    for name, path in child_templates().items():
        for logical_id, resource in load_template(path)["Resources"].items():
            if resource["Type"] in ("AWS::RDS::DBInstance", "AWS::S3::Bucket", "AWS::KMS::Key"):
                assert logical_id in generated, (name, logical_id)
    assert re.search(r"NetworkStack -->\|\"[^\"]*VpcId", generated)


def test_check_mode_reports_a_stale_diagram(tmp_path: Path) -> None:
    # GIVEN a copy of the repository layout whose diagram is out of date
    (tmp_path / "stacks").symlink_to(STACKS_DIR)
    (tmp_path / "template.yaml").symlink_to(REPO_ROOT / "template.yaml")
    (tmp_path / "docs").mkdir()
    (tmp_path / MERMAID_FILE).write_text("flowchart LR\n")
    (tmp_path / MARKDOWN_FILE).write_text((REPO_ROOT / MARKDOWN_FILE).read_text())
    # WHEN the generator checks it, then rewrites it
    # THEN the check fails first and passes after the rewrite
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0
