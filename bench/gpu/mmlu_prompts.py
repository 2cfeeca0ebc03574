"""MMLU test prompts in ModernBERT-Instruct's eval.py format, as `mlm-eval eval --task mmlu --templates
modernbert_instruct_eval_py` builds them (prompts/mmlu.yaml): the same text, then the same tokenization.

    You will be given a question as well as a list of options. Read the question carefully and select the right
    answer from the list.\\nQUESTION:\\n{question.strip()}\\nCHOICES:\\n- A: {c0}\\n- B: {c1}\\n- C: {c2}\\n- D: {c3}\\n
    \\nANSWER:\\nAnswer: [unused0] [MASK]

tokenized with the special tokens ([CLS] ... [SEP]). Reads the final-release CSVs (header question, choice0..3,
answer) from <data-dir>/mmlu/test/<subject>_test.csv. The standard library only; `tokenize` needs `tokenizers`.
"""
import csv, os

SUBJECTS = [
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine", "college_physics",
    "computer_security", "conceptual_physics", "econometrics", "electrical_engineering", "elementary_mathematics",
    "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry", "high_school_computer_science",
    "high_school_european_history", "high_school_geography", "high_school_government_and_politics",
    "high_school_macroeconomics", "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
    "high_school_psychology", "high_school_statistics", "high_school_us_history", "high_school_world_history",
    "human_aging", "human_sexuality", "international_law", "jurisprudence", "logical_fallacies", "machine_learning",
    "management", "marketing", "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition",
    "philosophy", "prehistory", "professional_accounting", "professional_law", "professional_medicine",
    "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy", "virology",
    "world_religions",
]
LETTERS = ["A", "B", "C", "D"]
MASK, ANCHOR = "[MASK]", "[unused0]"
HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]


def render(question, choices, anchor=ANCHOR + " ", mask=MASK):
    """The eval.py template (prompts/mmlu.yaml, modernbert_instruct_eval_py) with the anchor and the mask in place."""
    text = ("You will be given a question as well as a list of options. Read the question carefully and select the "
            "right answer from the list.\nQUESTION:\n" + question.strip() + "\nCHOICES:\n")
    for letter, choice in zip(LETTERS, choices):
        text += f"- {letter}: {choice}\n"
    return text + "\nANSWER:\nAnswer: " + anchor + mask


def load(data_dir, split="test", subjects=SUBJECTS):
    """[(subject, doc_id, text, gold)] in the order of the subjects and the rows of each file."""
    out = []
    for subject in subjects:
        path = os.path.join(data_dir, "mmlu", split, f"{subject}_{split}.csv")
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            header = next(rows)
            if header != HEADER:
                raise ValueError(f"{path}: header {header}, expected {HEADER}")
            for i, row in enumerate(rows):
                if len(row) != 6:
                    raise ValueError(f"{path}: row {i + 1} has {len(row)} columns")
                out.append((subject, i, render(row[0], row[1:5]), int(row[5].strip())))
    return out


def tokenizer(tokenizer_dir):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json"))


def tokenize(tok, texts):
    """Token ids with the special tokens, as the harness's MaskedPromptEncoder (no truncation: ModernBERT takes 8192)."""
    return [e.ids for e in tok.encode_batch(list(texts), add_special_tokens=True)]


def choice_ids(tok):
    """For eval-py scoring: the ids of " A".." D" (after a space) and of the bare "A".."D" (first token each)."""
    spaced = [tok.encode(" " + c, add_special_tokens=False).ids[0] for c in LETTERS]
    bare = [tok.encode(c, add_special_tokens=False).ids[0] for c in LETTERS]
    return spaced, bare
