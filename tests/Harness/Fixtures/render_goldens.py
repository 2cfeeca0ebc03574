"""Renders every template in prompts/ with real Jinja2 over the synthetic documents below, the way PromptSource
does (answer_choices rendered and split on |||, parts stripped). Output: template_renders.json beside this file.
Run with a Python that has jinja2 and PyYAML (Debian: python3-jinja2, python3-yaml):
    python3 tests/Harness/Fixtures/render_goldens.py"""
import json, os, yaml, jinja2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DOCS = {
    "xnli": [
        {"premise": "The cat sat on the mat.", "hypothesis": "A cat was sitting.", "label": 0},
        {"premise": "  Rain fell all day; the roads flooded. ", "hypothesis": "It was \"sunny\".", "label": 2},
        {"premise": "Il pleut.", "hypothesis": "Le temps est mauvais.", "label": 1},
    ],
    "xcopa": [
        {"premise": "The glass fell off the table.", "choice1": "It shattered.", "choice2": "It melted.", "question": "effect", "label": 0, "idx": 1},
        {"premise": "Mees jäi haigeks.", "choice1": "Ta sõi riknenud toitu.", "choice2": "Ta jooksis maratoni.", "question": "cause", "label": 0, "idx": 2},
        {"premise": "我们去了海滩。", "choice1": "天气很热。", "choice2": "下雪了。", "question": "cause", "label": 1, "idx": 3},
    ],
    "xwinograd": [
        {"sentence": "The trophy doesn't fit into the suitcase because _ is too small.", "option1": "the trophy", "option2": "the suitcase", "answer": "2"},
        {"sentence": "Anna a remercié Marie parce que _ l'avait aidée.", "option1": "Anna", "option2": "Marie", "answer": "2"},
        {"sentence": "_ は重すぎた。", "option1": "箱", "option2": "机", "answer": "1"},
    ],
    "mmlu": [
        {"question": "  What is 2 + 2?\n", "choices": ["3", "4", "5", "22"], "answer": 1, "subject": "elementary_mathematics"},
        {"question": "Which gas do plants absorb?", "choices": ["Oxygen", "Carbon dioxide", "Helium", "Argon"], "answer": 1, "subject": "high_school_biology"},
    ],
    "mmlu_pro": [
        {"question": "  What is 2 + 2?\n", "options": [" 4 ", "5", "six"], "answer": "A", "answer_index": 0, "category": "math"},
        {"question": "Only one option?", "options": ["yes"], "answer": "A", "answer_index": 0, "category": "computer science"},
        {"question": "Pick J.", "options": ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9"], "answer": "J", "answer_index": 9, "category": "law"},
    ],
}

env = jinja2.Environment(undefined=jinja2.StrictUndefined)
out = []
for task, docs in DOCS.items():
    spec = yaml.safe_load(open(os.path.join(ROOT, "prompts", task + ".yaml"), encoding="utf-8"))
    for t in spec["templates"]:
        for i, doc in enumerate(docs):
            variables = dict(doc, mask="<M>", anchor="<A> ")
            choices = [c.strip() for c in env.from_string(t["answer_choices"]).render(**variables).split("|||")]
            parts = [p.strip() for p in env.from_string(t["jinja"]).render(answer_choices=choices, **variables).split("|||")]
            out.append({"task": task, "template": t["name"], "doc": i, "fields": doc,
                        "input": parts[0], "target": parts[1] if len(parts) > 1 else "", "choices": choices})
with open(os.path.join(HERE, "template_renders.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
print(len(out), "renders")
