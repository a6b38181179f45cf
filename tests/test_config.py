import pytest

from lcnn.config import Config, apply_overrides, config_from_dict, config_to_dict, load_config
from lcnn.errors import ConfigError


def test_shipped_configs_load():
    for name in ("mnist", "cifar10", "cifar10_augment"):
        config = load_config(f"configs/{name}.yaml")
        assert config.task == "image"
        assert config.model.name == "lcnn9"


def test_mnist_config_is_original_recipe():
    config = load_config("configs/mnist.yaml")
    assert config.optim.lr == 1e-3
    assert config.data.batch_size == 256
    assert config.data.val_fraction == 0.2
    assert config.train.patience == 3
    assert config.train.max_epochs == 10


def test_unknown_key_lists_valid_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("task: image\noptim:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown configuration key\(s\) 'learning_rate' in section 'optim'.*valid keys: lr"):
        load_config(path)


def test_unknown_top_level_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("tsak: image\n")
    with pytest.raises(ConfigError, match=r"'tsak' in the top level"):
        load_config(path)


def test_wrong_types_are_rejected():
    with pytest.raises(ConfigError, match=r"data.augment must be true or false, got 'yes please'"):
        config_from_dict({"data": {"augment": "yes please"}})
    with pytest.raises(ConfigError, match=r"data.batch_size must be an integer, got 1.5"):
        config_from_dict({"data": {"batch_size": 1.5}})
    with pytest.raises(ConfigError, match=r"task must be one of image, countermeasure, got 'audio'"):
        config_from_dict({"task": "audio"})


def test_overrides_parse_yaml_scalars():
    values = apply_overrides({}, ["optim.lr=3e-4", "data.augment=true", "train.patience=null", "model.kwargs.dropout=0.5"])
    config = config_from_dict(values)
    assert config.optim.lr == 3e-4
    assert config.data.augment is True
    assert config.train.patience is None
    assert config.model.kwargs == {"dropout": 0.5}


def test_override_without_equals_raises():
    with pytest.raises(ConfigError, match=r"must look like section.key=value"):
        apply_overrides({}, ["optim.lr"])


def test_missing_file_raises(tmp_path):
    with pytest.raises(ConfigError, match=r"not found"):
        load_config(tmp_path / "absent.yaml")


def test_round_trip():
    config = load_config("configs/cifar10_augment.yaml")
    assert config_from_dict(config_to_dict(config)) == config
    assert isinstance(Config(), Config)


def test_empty_file_raises(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match=r"is empty; start from one of the configurations in configs/"):
        load_config(path)


def test_binary_file_raises(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ConfigError, match=r"not a valid YAML text file"):
        load_config(path)


def test_zero_epochs_and_negative_lr_raise():
    with pytest.raises(ConfigError, match=r"train.max_epochs \(--epochs\) must be at least 1, got 0"):
        config_from_dict({"train": {"max_epochs": 0}})
    with pytest.raises(ConfigError, match=r"optim.lr must be positive, got -0.1"):
        config_from_dict({"optim": {"lr": -0.1}})
