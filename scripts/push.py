#!/usr/bin/env python
"""Upload the output folder of a finished scripts/train.py run to the Hugging Face Hub.

    python scripts/push.py --model outputs/attn_bilstm-tweet_sentiment --hub_model_id my-user/attn-bilstm-tweets
    python scripts/push.py --model DIR --hub_model_id NAME --private --no-regenerate_card

The model card (README.md) is first rebuilt from the folder's saved results, naming the repository in its usage
example, unless --no-regenerate_card keeps the folder's card as it is (a hand-edited one, say). Log in first with
`hf auth login`, or set HF_TOKEN (a token is never taken on the command line, where shell history and process
lists would keep it); checkpoint folders and training_args.bin stay local.
"""

import argparse
import logging
from pathlib import Path

from modeling.data import available_datasets, load_data_config
from modeling.errors import UserInputError, cli_entry_point
from modeling.hub import check_repo_id, push_to_hub
from modeling.reporting.model_card import CARD_NAME, dataset_card_arguments, write_model_card

logger = logging.getLogger("push")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="The --output_dir of a finished scripts/train.py run.")
    parser.add_argument(
        "--hub_model_id", required=True, help="The repository to upload to: NAME (under your account) or USER/NAME."
    )
    parser.add_argument(
        "--private", action="store_true", help="Create the repository as private (an existing one keeps its setting)."
    )
    parser.add_argument(
        "--regenerate_card",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Rebuild README.md from the saved results before the upload (default); --no-regenerate_card uploads "
        "the folder's card as it is.",
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help=f"The run's data config ({', '.join(available_datasets())}) or YAML path, to describe the data in the "
        "card; by default the existing card's, or else the one the run recorded in training_args.json.",
    )
    parser.add_argument(
        "--base_model",
        default=None,
        help="The pretrained checkpoint a transformer was fine-tuned from, for the card; by default the one the run "
        "recorded in training_args.json, or else the existing card's.",
    )
    parser.add_argument("--license", default=None, help="The model's licence id (default: the existing card's).")
    return parser.parse_args(argv)


@cli_entry_point
def main() -> str:
    args = parse_args()
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    folder = Path(args.model)
    if not folder.is_dir():
        raise UserInputError(f"--model {folder} is not a folder; give the --output_dir of a train.py run")
    check_repo_id(args.hub_model_id)
    card = None
    if args.regenerate_card:
        # Built in memory: the folder's card is replaced only once the upload has succeeded.
        dataset = dataset_card_arguments(load_data_config(args.dataset)) if args.dataset else {}
        card = write_model_card(
            folder, repo_id=args.hub_model_id, base_model=args.base_model, license=args.license, save=False, **dataset
        )
    elif not (folder / CARD_NAME).is_file():
        logger.warning("%s has no %s: writing one from the saved results", folder, CARD_NAME)
    url = push_to_hub(folder, args.hub_model_id, private=args.private, card=card)
    print(f"uploaded to {url}")
    return url


if __name__ == "__main__":
    main()
