"""Run a model as RecBole users expect: python run_recbole_soft.py --model=SOFT --dataset=ml-100k --epochs=1"""
from recbole_soft.cli import console_main

if __name__ == "__main__":
    console_main()
