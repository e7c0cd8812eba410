"""The shipped Ray cluster configuration is one Ray's cluster launcher accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("path", sorted((EXAMPLES / "cluster").glob("*.yaml")), ids=lambda p: p.name)
def test_cluster_yaml_passes_rays_cluster_config_schema(path: Path) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(path.read_text())
    validate_config(prepare_config(config))  # with Ray's defaults filled in, as `ray up` checks it
    assert config["head_node_type"] in config["available_node_types"]
    commands = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in commands and "RAY_USAGE_STATS_ENABLED=0" in commands


def test_the_schema_check_catches_a_broken_config() -> None:
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((EXAMPLES / "cluster" / "aws-gpu.yaml").read_text())
    config["available_node_types"]["head"]["min_wokers"] = 1
    with pytest.raises(jsonschema.ValidationError, match="min_wokers"):
        validate_config(prepare_config(config))
